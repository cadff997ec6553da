import { Client } from '@microsoft/microsoft-graph-client';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { WorkbookService } from '../../src/testing/index.js';
import { createEmulatorHandlers } from '../../src/testing/msw.js';
import { defineEmulatorScenarios } from '../helpers/emulator-scenarios.js';

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

defineEmulatorScenarios('msw (createEmulatorHandlers + the Graph client)', async (options) => {
  const service = new WorkbookService(options);
  server.use(...createEmulatorHandlers(service));
  return {
    service,
    origin: 'https://graph.microsoft.com',
    client: Client.init({ authProvider: (done) => done(null, service.token) }),
    close: async () => server.resetHandlers(),
  };
});
