// Hive Gateway's configuration when bench/network.ts measures it (`--with-hive`): each subgraph is
// sent what the twinx gateway sends it (gateway/data-source.ts): an organization only the tokens it
// issued, the directory every token and the headers in TWINX_DIRECTORY_HEADERS (the members
// composed). Hive verifies no token: the subgraphs do.
import { presentedTokens, tokenHeaders } from '../lib/tokens/headers.ts';
import { claimedIssuer } from '../lib/tokens/tokens.ts';

const directory = JSON.parse(process.env.TWINX_DIRECTORY_HEADERS ?? '{}') as { subgraph: string; headers: Record<string, string> };

export const gatewayConfig = {
  propagateHeaders: {
    fromClientToSubgraphs({ request, subgraphName }: { request: Request; subgraphName: string }) {
      const { bearer, grants } = presentedTokens(Object.fromEntries(request.headers));
      const tokens = [...(bearer === undefined ? [] : [bearer]), ...grants];
      if (subgraphName === directory.subgraph) return { ...tokenHeaders(tokens), ...directory.headers };
      return tokenHeaders(tokens.filter((token) => claimedIssuer(token) === subgraphName));
    },
  },
};
