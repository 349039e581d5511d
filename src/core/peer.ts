/**
 * Frameworks and database drivers are optional peer dependencies: load one
 * on demand, and say which package to install when it is missing.
 */
export async function importPeer<T>(
  packageName: string,
  usedBy: string,
  // A caller may pass `() => import("literal")`, which bundlers can follow.
  load: () => Promise<unknown> = () => import(packageName),
): Promise<T> {
  try {
    return (await load()) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND") {
      throw new Error(`${usedBy} needs the "${packageName}" package: npm install ${packageName}`);
    }
    throw error;
  }
}
