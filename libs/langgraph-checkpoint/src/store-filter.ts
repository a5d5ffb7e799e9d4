// The filter language of LangGraph stores' search(): equality, or an object
// of operators ($eq, $ne, $gt, $gte, $lt, $lte, $in, $nin), as InMemoryStore
// and the Postgres store read it. (@langchain/langgraph-checkpoint does not
// export its helper.)
const OPERATORS = new Set(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"]);

function isOperators(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).every((k) => OPERATORS.has(k));
}

function matchesOne(actual: unknown, wanted: unknown): boolean {
  if (!isOperators(wanted)) return actual === wanted;
  return Object.entries(wanted).every(([op, value]) => {
    switch (op) {
      case "$eq":
        return actual === value;
      case "$ne":
        return actual !== value;
      case "$gt":
        return Number(actual) > Number(value);
      case "$gte":
        return Number(actual) >= Number(value);
      case "$lt":
        return Number(actual) < Number(value);
      case "$lte":
        return Number(actual) <= Number(value);
      case "$in":
        return Array.isArray(value) && value.includes(actual);
      default: // $nin
        return !Array.isArray(value) || !value.includes(actual);
    }
  });
}

/** True when every top-level field of `filter` matches `value`. */
export function matchesFilter(value: Record<string, unknown>, filter: Record<string, unknown> | undefined): boolean {
  return filter === undefined || Object.entries(filter).every(([field, wanted]) => matchesOne(value[field], wanted));
}
