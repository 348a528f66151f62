import { Aws, CfnCondition, Fn, Stack, Token } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { HttpRouteTable } from '../http-routes';
import { WAF_RATE_LIMITS, publicPathPrefixes } from '../rate-limits';

export interface WafProps {
  readonly prefix: string;
  /** shared/http-routes.json: the tighter rule covers the paths of its public routes. */
  readonly routeTable: HttpRouteTable;
  readonly userPool: cognito.IUserPool;
  readonly distribution: cloudfront.Distribution;
}

/**
 * WAF web ACLs where WAF can be attached (docs/decisions/0820-rate-limits.md). API Gateway HTTP
 * APIs cannot be associated with WAF; they rely on the stage's per-route throttles (api.ts).
 *
 * - `regionalAcl` (REGIONAL, this stack's region), on the Cognito user pool (sign-up, sign-in,
 *   token and hosted-UI endpoints): a per-IP rate rule on every request, a tighter per-IP rate
 *   rule on the paths of the route table's public routes (inert on the user pool, whose paths
 *   are Cognito's; it applies unchanged the day the ACL fronts the API), and the AWS managed
 *   common rule set.
 * - `cloudFrontAcl` (CLOUDFRONT scope, which AWS only accepts in us-east-1), on the dashboard's
 *   distribution: the per-IP rule and the common rule set. Created only when the stack deploys
 *   to us-east-1: unconditionally when the region is known to be us-east-1, under a
 *   `AWS::Region = us-east-1` condition when the synth is region-agnostic, not at all elsewhere.
 */
export class Waf extends Construct {
  public readonly regionalAcl: wafv2.CfnWebACL;
  public readonly userPoolAssociation: wafv2.CfnWebACLAssociation;
  public readonly cloudFrontAcl?: wafv2.CfnWebACL;
  /** Set when the CloudFront ACL exists only in us-east-1 (region-agnostic synth). */
  public readonly cloudFrontCondition?: CfnCondition;

  constructor(scope: Construct, id: string, props: WafProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.regionalAcl = new wafv2.CfnWebACL(this, 'RegionalAcl', {
      name: `${props.prefix}-regional`,
      description: 'dd0c per-IP rate limits and AWS common rules, Cognito user pool',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${props.prefix}-regional`),
      rules: [
        perIpRateRule(0),
        publicPathsRateRule(1, publicPathPrefixes(props.routeTable)),
        commonRuleSet(2),
      ],
    });
    this.userPoolAssociation = new wafv2.CfnWebACLAssociation(this, 'UserPoolAssociation', {
      resourceArn: props.userPool.userPoolArn,
      webAclArn: this.regionalAcl.attrArn,
    });

    const region = stack.region;
    const regionKnown = !Token.isUnresolved(region);
    if (regionKnown && region !== 'us-east-1') return;

    this.cloudFrontAcl = new wafv2.CfnWebACL(this, 'CloudFrontAcl', {
      name: `${props.prefix}-cloudfront`,
      description: 'dd0c per-IP rate limit and AWS common rules, dashboard distribution',
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${props.prefix}-cloudfront`),
      rules: [perIpRateRule(0), commonRuleSet(1)],
    });
    if (regionKnown) {
      props.distribution.attachWebAclId(this.cloudFrontAcl.attrArn);
    } else {
      this.cloudFrontCondition = new CfnCondition(stack, 'IsUsEast1', {
        expression: Fn.conditionEquals(Aws.REGION, 'us-east-1'),
      });
      this.cloudFrontAcl.cfnOptions.condition = this.cloudFrontCondition;
      props.distribution.attachWebAclId(
        Fn.conditionIf(this.cloudFrontCondition.logicalId, this.cloudFrontAcl.attrArn, Aws.NO_VALUE).toString(),
      );
    }
  }
}

function visibility(metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty {
  return { cloudWatchMetricsEnabled: true, metricName, sampledRequestsEnabled: true };
}

/** Every request, per source IP. */
function perIpRateRule(priority: number): wafv2.CfnWebACL.RuleProperty {
  return {
    name: 'PerIpRateLimit',
    priority,
    action: { block: {} },
    statement: {
      rateBasedStatement: {
        limit: WAF_RATE_LIMITS.perIp,
        evaluationWindowSec: WAF_RATE_LIMITS.evaluationWindowSec,
        aggregateKeyType: 'IP',
      },
    },
    visibilityConfig: visibility('PerIpRateLimit'),
  };
}

/** Requests to the public routes' paths, per source IP: tighter than the per-IP rule. */
function publicPathsRateRule(priority: number, paths: string[]): wafv2.CfnWebACL.RuleProperty {
  if (paths.length === 0) throw new Error('the route table has no public route: nothing for the public-paths rule to cover');
  const matches: wafv2.CfnWebACL.StatementProperty[] = paths.map((p) => ({
    byteMatchStatement: {
      fieldToMatch: { uriPath: {} },
      positionalConstraint: 'STARTS_WITH',
      searchString: p,
      textTransformations: [{ priority: 0, type: 'NONE' }],
    },
  }));
  return {
    name: 'PublicRoutesPerIpRateLimit',
    priority,
    action: { block: {} },
    statement: {
      rateBasedStatement: {
        limit: WAF_RATE_LIMITS.publicPathsPerIp,
        evaluationWindowSec: WAF_RATE_LIMITS.evaluationWindowSec,
        aggregateKeyType: 'IP',
        // An OR statement needs two statements at least.
        scopeDownStatement: matches.length === 1 ? matches[0] : { orStatement: { statements: matches } },
      },
    },
    visibilityConfig: visibility('PublicRoutesPerIpRateLimit'),
  };
}

/**
 * AWS managed common rule set. Its SizeRestrictions_BODY rule (bodies over 8 KB) only counts:
 * drift-report parts and Slack payloads are larger by design, and the body limit is the
 * functions' to enforce.
 */
function commonRuleSet(priority: number): wafv2.CfnWebACL.RuleProperty {
  return {
    name: 'AWSManagedRulesCommonRuleSet',
    priority,
    overrideAction: { none: {} },
    statement: {
      managedRuleGroupStatement: {
        vendorName: 'AWS',
        name: 'AWSManagedRulesCommonRuleSet',
        ruleActionOverrides: [{ name: 'SizeRestrictions_BODY', actionToUse: { count: {} } }],
      },
    },
    visibilityConfig: visibility('AWSManagedRulesCommonRuleSet'),
  };
}
