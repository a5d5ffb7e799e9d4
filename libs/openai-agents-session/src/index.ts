// @statehouse/openai-agents: the OpenAI Agents SDK's Session on Statehouse.
export { StatehouseSession } from "./statehouse-session.js";
export type { StatehouseSessionOptions } from "./statehouse-session.js";
