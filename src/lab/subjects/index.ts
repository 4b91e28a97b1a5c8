/** Every subject of the lab, in scorecard column order: holdfast first, naive straw men last. */
import type { ClientSubject, ServerSubject, Subject } from '../types.ts';
import { holdfastFetchClient, holdfastRequestClient } from './client-holdfast.ts';
import { nodeAgentClient } from './client-node-agent.ts';
import { nodeFetchHoldfastClient, undiciHoldfastClient } from './client-fetch-holdfast.ts';
import { nodeFetchClient } from './client-node-fetch.ts';
import { undiciPoolClient } from './client-undici-pool.ts';
import { axiosClient } from './client-axios.ts';
import { gotClient } from './client-got.ts';
import { pythonRequestsClient } from './client-python-requests.ts';
import { curlClient } from './client-curl.ts';
import { naiveClient } from './client-naive.ts';
import { holdfastServer } from './server-holdfast.ts';
import { nodeHttpServer } from './server-node-http.ts';
import { pythonHttpServer, pythonThreadingServer } from './server-python.ts';
import { djangoServer } from './server-django.ts';
import { apacheServer } from './server-apache.ts';
import { naiveServer } from './server-naive.ts';
import { nginxServer } from './server-nginx.ts';

export const clientSubjects: readonly ClientSubject[] = [
  holdfastRequestClient, holdfastFetchClient, nodeFetchHoldfastClient, undiciHoldfastClient, nodeAgentClient, nodeFetchClient, undiciPoolClient,
  axiosClient, gotClient, pythonRequestsClient, curlClient, naiveClient,
];

export const serverSubjects: readonly ServerSubject[] = [
  holdfastServer, nodeHttpServer, pythonHttpServer, pythonThreadingServer, djangoServer, apacheServer, naiveServer,
];

export const subjects: readonly Subject[] = [...clientSubjects, ...serverSubjects];

export {
  holdfastFetchClient, holdfastRequestClient, nodeAgentClient, nodeFetchClient, undiciPoolClient, axiosClient,
  gotClient, pythonRequestsClient, curlClient, naiveClient, holdfastServer, nodeHttpServer, pythonHttpServer,
  pythonThreadingServer, djangoServer, apacheServer, naiveServer, nodeFetchHoldfastClient, undiciHoldfastClient, nginxServer,
};
