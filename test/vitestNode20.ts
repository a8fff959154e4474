// vitest 5 formats its failure summary with Map.groupBy (Node ≥ 21). On Node 20 a failing test would crash the
// reporter instead of printing the failure, so the config installs this minimal polyfill first.
type GroupBy = <T, K>(items: Iterable<T>, key: (t: T, i: number) => K) => Map<K, T[]>;
const MapWithGroupBy = Map as unknown as { groupBy?: GroupBy };
if (typeof MapWithGroupBy.groupBy !== 'function') {
  MapWithGroupBy.groupBy = <T, K>(items: Iterable<T>, key: (t: T, i: number) => K): Map<K, T[]> => {
    const groups = new Map<K, T[]>();
    let i = 0;
    for (const item of items) {
      const k = key(item, i++);
      const g = groups.get(k);
      if (g) g.push(item);
      else groups.set(k, [item]);
    }
    return groups;
  };
}
export {};
