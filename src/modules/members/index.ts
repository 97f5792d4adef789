export { membersService, memberView, visibleMembers, issueInvitationLink, type MembersService } from './members.service.ts';
export { rolesService, type RolesService } from './roles.service.ts';
export { membersRoutes } from './members.routes.ts';
export { MemberView, MembersQuery } from './members.schemas.ts';
export { memberJobs, invitationMailJob } from './members.jobs.ts';
