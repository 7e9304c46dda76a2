export { advertise, browse, SERVICE_TYPE, type Advertisement, type DiscoveredHost } from './dns-sd.js';
export { defaultStateDir, findHost, parseHost, userConfigFile, SYSTEM_ADMIN_SOCKET, type FindHostOptions, type FoundHost } from './find-host.js';
