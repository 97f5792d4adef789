export { notificationJobs, lowStockMailJob } from './notifications.jobs.ts';
