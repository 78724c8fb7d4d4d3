import { Role } from '../generated/prisma/enums.js'

// Apart from repository.ts so that what only needs the role names (schemas, the CLI's help) does
// not load the Prisma client.
export { Role }
export const ROLES = Object.values(Role)
