"""Stand-ins for the parties outside dd0c: Slack, Stripe and the Cognito hosted UI."""
