// @statehouse/langgraph-checkpoint: LangGraph.js persistence on Statehouse.
export { StatehouseSaver } from "./statehouse-saver.js";
export type { StatehouseSaverOptions } from "./statehouse-saver.js";
export { StatehouseStore } from "./statehouse-store.js";
export type { StatehouseStoreOptions } from "./statehouse-store.js";
