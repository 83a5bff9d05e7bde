import { fileURLToPath } from 'node:url';

/** The repository root: the Docker build context of the task image and the Lambdas' project root. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
