import * as fs from 'fs';
import * as path from 'path';
import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CUSTOMER_TEMPLATE_FILE = 'dd0c-readonly.yaml';

export interface WebProps {
  readonly prefix: string;
  readonly removalPolicy: RemovalPolicy;
  /** Static dashboard files; default: <repo>/dashboard/dist, else <repo>/dashboard, when it has index.html. */
  readonly dashboardDir?: string;
  /** Folder holding dd0c-readonly.yaml; default <repo>/cloudformation. */
  readonly templateDir?: string;
}

/**
 * The static dashboard (private S3 bucket behind CloudFront with origin access control) and the
 * public customer template bucket. CloudFormation quick-create links only accept a template
 * URL on S3, so the customer template is served from S3 itself, readable by anyone (it is a
 * public document); nothing else in that bucket is public.
 */
export class Web extends Construct {
  public readonly logBucket: s3.Bucket;
  public readonly dashboardBucket: s3.Bucket;
  public readonly templateBucket: s3.Bucket;
  public readonly distribution: cloudfront.Distribution;
  public readonly dashboardUrl: string;
  public readonly customerTemplateUrl: string;
  public readonly quickCreateLinkBase: string;
  private readonly dashboardDir?: string;
  private readonly templateDir?: string;

  constructor(scope: Construct, id: string, props: WebProps) {
    super(scope, id);

    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // CloudFront standard logging writes with ACLs.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: props.removalPolicy,
    });

    this.dashboardBucket = new s3.Bucket(this, 'Dashboard', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 's3/dashboard/',
      removalPolicy: props.removalPolicy,
    });

    this.templateBucket = new s3.Bucket(this, 'CustomerTemplate', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      // ACLs stay blocked; only the bucket policy below makes the template readable.
      blockPublicAccess: new s3.BlockPublicAccess({
        blockPublicAcls: true,
        ignorePublicAcls: true,
        blockPublicPolicy: false,
        restrictPublicBuckets: false,
      }),
      enforceSSL: true,
      versioned: true,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(90) }],
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 's3/customer-template/',
      removalPolicy: props.removalPolicy,
    });
    this.templateBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'PublicReadCustomerTemplate',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [this.templateBucket.arnForObjects('*.yaml')],
      }),
    );

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${props.prefix} dashboard`,
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.dashboardBucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
      },
      // Single-page app: unknown paths render index.html.
      errorResponses: [
        { httpStatus: 403, responseHttpStatus: 200, responsePagePath: '/index.html', ttl: Duration.seconds(0) },
        { httpStatus: 404, responseHttpStatus: 200, responsePagePath: '/index.html', ttl: Duration.seconds(0) },
      ],
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
    });

    this.dashboardUrl = `https://${this.distribution.distributionDomainName}`;
    this.customerTemplateUrl = `https://${this.templateBucket.bucketRegionalDomainName}/${CUSTOMER_TEMPLATE_FILE}`;
    // The API appends the tenant's ExternalId (&param_ExternalId=<uuid>).
    this.quickCreateLinkBase = Fn.join('', [
      'https://console.aws.amazon.com/cloudformation/home?region=',
      Aws.REGION,
      '#/stacks/quickcreate?templateURL=https%3A%2F%2F',
      this.templateBucket.bucketRegionalDomainName,
      `%2F${CUSTOMER_TEMPLATE_FILE}&stackName=dd0c-readonly&param_Dd0cAccountId=`,
      Aws.ACCOUNT_ID,
      '&param_Dd0cRegion=',
      Aws.REGION,
    ]);

    this.dashboardDir = props.dashboardDir ?? findDashboardDir();
    this.templateDir = props.templateDir ?? path.join(REPO_ROOT, 'cloudformation');
  }

  /**
   * Uploads the dashboard (when built) plus a `config.json` the dashboard reads at start, and
   * the customer template (when present). Called once the API exists, for its URL.
   */
  public addDeployments(config: Record<string, string>): void {
    const sources = [s3deploy.Source.jsonData('config.json', config)];
    if (this.dashboardDir) {
      sources.push(
        s3deploy.Source.asset(this.dashboardDir, {
          exclude: ['node_modules', 'node_modules/**', '*.md', 'package*.json', 'test', 'tests', '*.test.*', 'config.json'],
        }),
      );
    }
    new s3deploy.BucketDeployment(this, 'DeployDashboard', {
      destinationBucket: this.dashboardBucket,
      sources,
      distribution: this.distribution,
      distributionPaths: ['/*'],
      memoryLimit: 512,
    });

    const template = this.templateDir ? path.join(this.templateDir, CUSTOMER_TEMPLATE_FILE) : undefined;
    if (template && fs.existsSync(template)) {
      new s3deploy.BucketDeployment(this, 'DeployCustomerTemplate', {
        destinationBucket: this.templateBucket,
        sources: [s3deploy.Source.asset(this.templateDir!, { exclude: ['*', `!${CUSTOMER_TEMPLATE_FILE}`] })],
        prune: false,
        contentType: 'text/yaml',
        cacheControl: [s3deploy.CacheControl.maxAge(Duration.minutes(5))],
      });
    }
  }
}

function findDashboardDir(): string | undefined {
  for (const dir of [path.join(REPO_ROOT, 'dashboard', 'dist'), path.join(REPO_ROOT, 'dashboard')]) {
    if (fs.existsSync(path.join(dir, 'index.html'))) return dir;
  }
  return undefined;
}
