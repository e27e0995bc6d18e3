"""Call tracking: number pools shown by source (dynamic number insertion), provider call
webhooks (Twilio, CallRail, our signed format) resolved to the visitor who saw the number,
calls as leads and conversions, and the calls report."""
