/**
 * One value per owner object, made on first use and dropped with the owner: a prepared statement per open database,
 * a limiter per running server's context.
 */
export function onePer<K extends object, T>(factory: (owner: K) => T): (owner: K) => T {
  const cache = new WeakMap<K, T>();
  return (owner) => {
    let value = cache.get(owner);
    if (value === undefined) cache.set(owner, (value = factory(owner)));
    return value;
  };
}
