import { Aws, CfnCondition, CfnParameter, CfnResource, Duration, Fn, RemovalPolicy, SecretValue, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';

export interface AuthProps {
  readonly prefix: string;
  readonly removalPolicy: RemovalPolicy;
  readonly deletionProtection: boolean;
  readonly dashboardUrl: string;
}

/**
 * Cognito user pool for the dashboard and API. GitHub (through an OIDC issuer) and Google are
 * optional identity providers, configured by stack parameters: a provider is created only when
 * its client id parameter is set, so the stack deploys before the OAuth apps exist.
 */
export class Auth extends Construct {
  public readonly userPool: cognito.UserPool;
  public readonly client: cognito.UserPoolClient;
  public readonly domain: cognito.UserPoolDomain;

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id);
    const stack = Stack.of(this);

    const googleClientId = new CfnParameter(stack, 'GoogleClientId', {
      type: 'String',
      default: '',
      description: 'Google OAuth client id for sign-in (empty: no Google provider)',
    });
    const googleClientSecret = new CfnParameter(stack, 'GoogleClientSecret', {
      type: 'String',
      default: '',
      noEcho: true,
      description: 'Google OAuth client secret',
    });
    const githubClientId = new CfnParameter(stack, 'GitHubClientId', {
      type: 'String',
      default: '',
      description: 'GitHub OAuth app client id for sign-in through an OIDC issuer (empty: no GitHub provider)',
    });
    const githubClientSecret = new CfnParameter(stack, 'GitHubClientSecret', {
      type: 'String',
      default: '',
      noEcho: true,
      description: 'GitHub OAuth app client secret',
    });
    const githubIssuerUrl = new CfnParameter(stack, 'GitHubOidcIssuerUrl', {
      type: 'String',
      default: 'https://github.com',
      description:
        'OIDC issuer for GitHub sign-in. GitHub OAuth is not OpenID Connect on its own: point this at an OIDC wrapper for GitHub that serves /.well-known/openid-configuration',
    });
    const hasGoogle = new CfnCondition(stack, 'HasGoogleProvider', {
      expression: Fn.conditionNot(Fn.conditionEquals(googleClientId.valueAsString, '')),
    });
    const hasGitHub = new CfnCondition(stack, 'HasGitHubProvider', {
      expression: Fn.conditionNot(Fn.conditionEquals(githubClientId.valueAsString, '')),
    });

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      userPoolName: `${props.prefix}-users`,
      selfSignUpEnabled: true,
      signInAliases: { email: true },
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { sms: false, otp: true },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: props.deletionProtection,
      removalPolicy: props.removalPolicy,
    });

    const google = new cognito.UserPoolIdentityProviderGoogle(this, 'Google', {
      userPool: this.userPool,
      clientId: googleClientId.valueAsString,
      clientSecretValue: SecretValue.cfnParameter(googleClientSecret),
      scopes: ['openid', 'email', 'profile'],
      attributeMapping: {
        email: cognito.ProviderAttribute.GOOGLE_EMAIL,
        givenName: cognito.ProviderAttribute.GOOGLE_GIVEN_NAME,
        familyName: cognito.ProviderAttribute.GOOGLE_FAMILY_NAME,
      },
    });
    (google.node.defaultChild as CfnResource).cfnOptions.condition = hasGoogle;

    const github = new cognito.UserPoolIdentityProviderOidc(this, 'GitHub', {
      userPool: this.userPool,
      name: 'GitHub',
      clientId: githubClientId.valueAsString,
      clientSecret: githubClientSecret.valueAsString,
      issuerUrl: githubIssuerUrl.valueAsString,
      scopes: ['openid', 'email', 'profile'],
      attributeRequestMethod: cognito.OidcAttributeRequestMethod.GET,
      attributeMapping: { email: cognito.ProviderAttribute.other('email') },
    });
    (github.node.defaultChild as CfnResource).cfnOptions.condition = hasGitHub;

    this.domain = this.userPool.addDomain('Domain', {
      // Globally unique: the account id keeps staging and prod of different accounts apart.
      cognitoDomain: { domainPrefix: Fn.join('-', [props.prefix, Aws.ACCOUNT_ID]) },
    });

    this.client = this.userPool.addClient('DashboardClient', {
      userPoolClientName: `${props.prefix}-dashboard`,
      generateSecret: false,
      // Overridden below with the configured providers.
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      authFlows: { userSrp: true },
      preventUserExistenceErrors: true,
      // Named, not the default (every writable attribute): the tenant is never a user attribute
      // (the API maps the immutable `sub` to the tenant it creates at first sign-in), and nothing
      // the browser writes can change it. Federated sign-in writes the mapped attributes through
      // this client, so they must stay writable.
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true, givenName: true, familyName: true }),
      // A public client (no secret) in the browser: authorization code grant with PKCE only;
      // the implicit grant (tokens in the URL fragment) stays off.
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
        callbackUrls: [`${props.dashboardUrl}/`, `${props.dashboardUrl}/callback`],
        logoutUrls: [`${props.dashboardUrl}/`],
      },
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });
    // The providers exist only when configured; Ref inside Fn::If also orders the creation.
    const cognitoIdp = cognito.UserPoolClientIdentityProvider.COGNITO.name;
    (this.client.node.defaultChild as CfnResource).addPropertyOverride(
      'SupportedIdentityProviders',
      Fn.conditionIf(
        hasGoogle.logicalId,
        Fn.conditionIf(
          hasGitHub.logicalId,
          [cognitoIdp, google.providerName, github.providerName],
          [cognitoIdp, google.providerName],
        ),
        Fn.conditionIf(hasGitHub.logicalId, [cognitoIdp, github.providerName], [cognitoIdp]),
      ),
    );
  }
}
