import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';

describe('cdk-nag wiring', () => {
  it('fails synthesis when a resource breaks an AWS Solutions rule', () => {
    // Prepare: the same plugin registration as bin/app.ts and test/cdk/synth.ts
    const app = new App();
    const stack = new Stack(app, 'Probe');
    new s3.Bucket(stack, 'PlainBucket');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // Act / Assess: the "zero findings" tests are only meaningful if a finding throws
    expect(() => Template.fromStack(stack)).toThrow();
  });
});
