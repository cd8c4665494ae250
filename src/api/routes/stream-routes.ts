import { InvalidRequestError, NoPrimaryError } from '../../errors.ts';
import { CLUSTER_ID_HEADER, type StreamRequest } from '../../protocol/api-types.ts';
import { readJsonBody, type ApiRoute } from '../api-server.ts';
import type { RouteHost } from './route-host.ts';

/** POST /stream: a replica's stream of transactions from this primary. */
export function streamRoutes(host: RouteHost): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: '/stream',
      auth: true,
      handle: async (req, _url, res) => {
        const server = host.streamServer;
        if (!server) {
          const p = await host.primaryInfo();
          throw new NoPrimaryError(`this node is not the primary${p ? `; the primary is ${p.hostname} at ${p.advertiseUrl}` : ''}`);
        }
        const theirCluster = req.headers[CLUSTER_ID_HEADER];
        await server.handle(streamRequest(await readJsonBody(req)), typeof theirCluster === 'string' && theirCluster !== '' ? theirCluster : undefined, req, res);
      },
    },
  ];
}

/** A replica's opening request, checked field by field: it arrives over the network. */
function streamRequest(body: Record<string, unknown>): StreamRequest {
  const { nodeId, url, candidate, positions } = body;
  const positionsOk = typeof positions === 'object' && positions !== null && !Array.isArray(positions) && Object.values(positions).every((p) => typeof p === 'string');
  if (typeof nodeId !== 'string' || !positionsOk || (url !== undefined && typeof url !== 'string') || (candidate !== undefined && typeof candidate !== 'boolean')) {
    throw new InvalidRequestError('expected {"nodeId": "...", "url"?: "...", "candidate"?: true|false, "positions": {"<db>": "<txid>/<checksum>"}}');
  }
  return { nodeId, positions: positions as Record<string, string>, ...(url !== undefined ? { url } : {}), ...(candidate !== undefined ? { candidate } : {}) };
}
