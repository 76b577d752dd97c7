import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONTRACT_CASES, CONTRACT_MAX_BYTES, checkContractCase } from '../support/contract-cases.js';
import type { ContractTarget } from '../support/contract-cases.js';
import { request, startReceiver } from '../support/receiver.js';
import type { RunningReceiver } from '../support/receiver.js';

describe('the shared contract table, self-hosted server over HTTP (disk store)', () => {
  let receiver: RunningReceiver;
  let target: ContractTarget;
  before(async () => {
    receiver = await startReceiver({ maxBytes: CONTRACT_MAX_BYTES });
    target = {
      runtime: 'server',
      hashesEveryBody: false,
      token: receiver.token,
      send: ({ method, query, headers, body }) =>
        request(`${receiver.url}${query === '' ? '' : `?${query}`}`, { method, headers, ...(body.byteLength > 0 && { body }) }),
      keys: () => receiver.files(),
      object: (key) => readFile(path.join(receiver.root, 'images', key)).catch(() => undefined),
    };
  });
  after(() => receiver.close());

  for (const testCase of CONTRACT_CASES) {
    it(testCase.name, () => checkContractCase(target, testCase));
  }
});
