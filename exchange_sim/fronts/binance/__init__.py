"""The Binance USDⓈ-M futures front: REST under /fapi and /sapi, streams under /ws and /stream."""
