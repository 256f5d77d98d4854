/** Ports for tests that start a server with a fixed port. */
import { createServer, type AddressInfo, type Server } from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago (for servers that cannot listen on port 0 themselves). */
export async function freePort(): Promise<number> {
  const server = await occupy(0);
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Holds `port` on 127.0.0.1 (0: any free one) until the server is closed. */
export function occupy(port: number): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
