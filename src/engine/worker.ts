/**
 * The engine's Web Worker (EngineClient.spawn starts it): the only owner of the GPU device in the page. A thin
 * shell; everything happens in Engine, which tests can also drive without a worker.
 */
import { Engine } from './engine';
import type { EngineCommand } from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const engine = new Engine((event, transfer) => scope.postMessage(event, transfer ?? []));

scope.onmessage = (m: MessageEvent<EngineCommand>) => {
  const cmd = m.data;
  if (cmd?.type !== 'debug-crash') return engine.handle(cmd);
  // Test-only: the two ways a worker dies, as the page's client must notice them.
  if (cmd.how === 'close') return scope.close(); // silent, like a worker killed for running out of memory
  setTimeout(() => {
    throw new Error('debug-crash: the engine worker threw an uncaught error on purpose');
  });
};
// A message that could not be deserialised still gets an answer rather than vanishing.
scope.onmessageerror = () =>
  scope.postMessage({ type: 'error', error: { name: 'DataCloneError', message: 'the engine received a message it could not read' } });
