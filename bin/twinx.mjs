#!/usr/bin/env node
// The `twinx` command. The code is TypeScript run through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
