// cdk-nag reads a deprecated aws-cdk-lib property; keep the test output about our code.
process.env.JSII_DEPRECATED = process.env.JSII_DEPRECATED || 'quiet';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Type checking runs once in `tsc --noEmit` (scripts/test-infra.sh); ts-jest only transpiles.
  transform: { '^.+\\.tsx?$': ['ts-jest', { diagnostics: false }] },
  setupFilesAfterEnv: ['aws-cdk-lib/testhelpers/jest-autoclean'],
  testTimeout: 120000,
};
