/**
 * The PostgreSQL majors the Fargate image can ship (pg_dump, pg_restore and the drill's scratch
 * server, all one major: the `task.pgMajorVersion` setting). pg_dump dumps every server from 9.2
 * up to its own major and refuses newer ones, so the newest release is the default; 17 stays for
 * deployments that pinned it. Shared by the CDK config check and backupctl's version guard.
 */
export const IMAGE_PG_MAJORS = [17, 18] as const;
export const DEFAULT_IMAGE_PG_MAJOR = 18;
