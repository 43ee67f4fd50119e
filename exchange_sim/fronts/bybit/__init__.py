"""The Bybit v5 front (category=linear): REST under /v5, streams under /v5/public and
/v5/private."""
