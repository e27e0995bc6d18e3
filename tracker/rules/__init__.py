"""Pure rules with no database: channel classification (with its data files), lead score
rules, and the privacy rules (IP truncation, URL scrubbing) that the collector and sign-in share."""
