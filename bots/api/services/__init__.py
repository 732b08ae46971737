"""The API's writes: tokens, sending (now or at a time), broadcasts. Views call these, nothing else writes."""
