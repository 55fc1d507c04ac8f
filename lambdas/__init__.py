"""The Lambda handlers of both workflows and what they share (one package: `lambdas.<module>` everywhere)."""
