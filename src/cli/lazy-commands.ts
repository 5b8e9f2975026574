// Every command's entry point, loaded on its first call: a run evaluates only the modules of its own command.
type Run = (argv: string[]) => Promise<number>;

export const client: Run = async (argv) => (await import("./client.ts")).client(argv);
export const server: Run = async (argv) => (await import("./server.ts")).server(argv);
export const keygen: Run = async (argv) => (await import("./keygen.ts")).keygen(argv);
export const validate: Run = async (argv) => (await import("./validate.ts")).validate(argv);
export const discover: Run = async (argv) => (await import("./discover.ts")).discover(argv);
export const status: Run = async (argv) => (await import("./status.ts")).status(argv);
export const ls: Run = async (argv) => (await import("./ls.ts")).ls(argv);
export const restore: Run = async (argv) => (await import("./restore.ts")).restore(argv);
export const verify: Run = async (argv) => (await import("./verify.ts")).verify(argv);
export const release: Run = async (argv) => (await import("./release.ts")).release(argv);
export const receipt: Run = async (argv) => (await import("./receipt.ts")).receipt(argv);
export const addSource: Run = async (argv) => (await import("./edit.ts")).addSource(argv);
export const removeSource: Run = async (argv) => (await import("./edit.ts")).removeSource(argv);
