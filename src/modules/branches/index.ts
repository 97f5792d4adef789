export { branchesService, requireOpenBranch, requireBranch, visibleBranches, type BranchesService } from './branches.service.ts';
export { branchesRoutes } from './branches.routes.ts';
export type { Branch } from './branches.schemas.ts';
export { existingBranchIds } from './branches.repository.ts';
