#!/usr/bin/env node
import { buildApp } from '../lib/app';

// Context (env=staging|prod, account, githubRepo, ...) comes from cdk.json and `-c key=value`.
buildApp();
