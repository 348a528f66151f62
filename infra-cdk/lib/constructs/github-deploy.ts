import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';

export interface GitHubDeployProps {
  readonly prefix: string;
  /** owner/repo */
  readonly repo: string;
  /** Subjects after `repo:<owner>/<repo>:`, e.g. `ref:refs/heads/main`, `environment:production`. */
  readonly subjects: string[];
  /** Existing provider ARN (there is one GitHub provider per account). */
  readonly existingProviderArn?: string;
}

/**
 * GitHub Actions OIDC provider and the role `deploy.yml` assumes. The trust policy accepts
 * tokens for this repository and the configured subjects only (exact match, no wildcards); the
 * role can do nothing but assume the CDK bootstrap roles, which `cdk deploy` uses.
 */
export class GitHubDeploy extends Construct {
  public readonly role: iam.Role;
  public readonly provider: iam.IOidcProvider;

  constructor(scope: Construct, id: string, props: GitHubDeployProps) {
    super(scope, id);

    this.provider = props.existingProviderArn
      ? iam.OidcProviderNative.fromOidcProviderArn(this, 'Provider', props.existingProviderArn)
      : new iam.OidcProviderNative(this, 'Provider', {
          url: `https://${GITHUB_OIDC_HOST}`,
          clientIds: ['sts.amazonaws.com'],
        });

    const subjects = props.subjects.map((s) => `repo:${props.repo}:${s}`);
    this.role = new iam.Role(this, 'DeployRole', {
      roleName: `${props.prefix}-github-deploy`,
      description: `GitHub Actions deploy role for ${props.repo} (${props.subjects.join(', ')})`,
      maxSessionDuration: Duration.hours(1),
      assumedBy: new iam.WebIdentityPrincipal(this.provider.openIdConnectProviderArn, {
        StringEquals: {
          [`${GITHUB_OIDC_HOST}:aud`]: 'sts.amazonaws.com',
          [`${GITHUB_OIDC_HOST}:sub`]: subjects.length === 1 ? subjects[0] : subjects,
        },
      }),
    });

    const qualifier =
      (Stack.of(this).node.tryGetContext('@aws-cdk/core:bootstrapQualifier') as string | undefined) ?? 'hnb659fds';
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'AssumeCdkBootstrapRoles',
        actions: ['sts:AssumeRole', 'sts:TagSession'],
        resources: [`arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/cdk-${qualifier}-*`],
      }),
    );
  }
}
