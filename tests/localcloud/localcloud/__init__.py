"""The local cloud: dd0c's synthesized CloudFormation template run on one machine (moto for the
managed services, the real function binaries behind a Lambda Runtime API emulator, and local
emulators of API Gateway HTTP APIs, EventBridge, SQS event source mappings and Scheduler).
See docs/decisions/0800-local-cloud.md."""
from .cloud import LocalCloud, MotoServer
from .runtime import FunctionError, InitError
from .template import Template

__all__ = ["LocalCloud", "MotoServer", "FunctionError", "InitError", "Template"]
