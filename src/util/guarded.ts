/**
 * Wraps callbacks that run on the event loop (undici handlers, socket and stream listeners) so an
 * exception in one becomes `onError` — the failure of that one request or connection — instead of
 * reaching the event loop and ending the process. An exception in `onError` itself is dropped.
 */
export function guardedBy(onError: (err: unknown) => void) {
  return <A extends unknown[]>(callback: (...args: A) => void) =>
    (...args: A): void => {
      try {
        callback(...args);
      } catch (err) {
        try {
          onError(err);
        } catch {
          // The connection is torn down by the caller's onError; nothing more can be done here.
        }
      }
    };
}
