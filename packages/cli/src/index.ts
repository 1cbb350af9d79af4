export { listObjects, type IpcxObject, type ListOptions, type Liveness } from './objects.js';
export { cleanObjects, type CleanOptions, type CleanResult } from './clean.js';
export { runDoctor, type DoctorCheck } from './doctor.js';
