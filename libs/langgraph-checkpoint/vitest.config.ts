import { sharedConfig } from "../../vitest.shared.js";

// The official validation suite (@langchain/langgraph-checkpoint-validation)
// calls describe/it/expect as globals.
export default sharedConfig({ globals: true });
