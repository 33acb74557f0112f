/**
 * The route modules the app registers, in order. A route module is `(app, ctx) => void | Promise<void>`
 * (see context.ts): add one line here per spec file.
 */
import type { RouteModule } from '../context.js';
import { registerCalculatorRoutes } from './calculator.js';
import { registerHealthRoutes } from './health.js';
import { registerListRoutes } from './lists.js';
import { registerMemoryRoutes } from './memory.js';
import { registerModelMemoryRoutes } from './models-memory.js';
import { registerModelPathRoutes, registerModelRoutes } from './models.js';
import { registerServingRoutes } from './serving.js';
import { registerPlannerRoutes } from './planner.js';
import { registerSystemRoutes } from './system.js';
import { registerTrainingRoutes } from './training.js';
import { registerWebRoutes } from './web.js';

export const ROUTES: RouteModule[] = [
  registerHealthRoutes,
  registerModelRoutes,
  registerModelMemoryRoutes,
  registerMemoryRoutes,
  registerModelPathRoutes,
  registerListRoutes,
  registerCalculatorRoutes,
  registerSystemRoutes,
  registerWebRoutes,
  registerServingRoutes,
  registerPlannerRoutes,
  registerTrainingRoutes,
];
