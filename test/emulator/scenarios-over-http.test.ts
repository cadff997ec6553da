import { createBearerClient } from '../../src/transport/graph-client.js';
import { startEmulator } from '../../src/testing/index.js';
import { defineEmulatorScenarios } from '../helpers/emulator-scenarios.js';

defineEmulatorScenarios('HTTP (startEmulator + the Graph client)', async (options) => {
  const emulator = await startEmulator(options);
  return {
    service: emulator.service,
    origin: emulator.url,
    client: createBearerClient({ baseUrl: emulator.url, token: emulator.token }),
    close: () => emulator.close(),
  };
});
