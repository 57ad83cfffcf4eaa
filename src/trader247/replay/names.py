"""Display names Coinbase uses for the catalogue's currencies (unknown codes show the code)."""

from __future__ import annotations

FIAT: dict[str, str] = {
    "USD": "US Dollar",
    "EUR": "Euro",
    "GBP": "British Pound",
}

CRYPTO: dict[str, str] = {
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "SOL": "Solana",
    "ADA": "Cardano",
    "XRP": "XRP",
    "DOGE": "Dogecoin",
    "AVAX": "Avalanche",
    "LINK": "Chainlink",
    "LTC": "Litecoin",
    "DOT": "Polkadot",
    "POL": "POL (ex-MATIC)",
    "NEAR": "NEAR Protocol",
    "ATOM": "Cosmos",
    "UNI": "Uniswap",
    "XLM": "Stellar",
    "AAVE": "Aave",
    "ICP": "Internet Computer",
    "FIL": "Filecoin",
    "GRT": "The Graph",
    "ALGO": "Algorand",
    "SUI": "Sui",
    "SHIB": "Shiba Inu",
    "BONK": "Bonk",
    "ARB": "Arbitrum",
    "OP": "Optimism",
    "PEPE": "Pepe",
    "HBAR": "Hedera",
    "INJ": "Injective",
    "FET": "Artificial Superintelligence Alliance",
    "SEI": "Sei",
    "USDT": "Tether",
    "USDC": "USDC",
    "DAI": "Dai",
}

# Quote currencies worth one US dollar for minimum-order sizing.
USD_LIKE = frozenset({"USD", "USDC", "USDT", "DAI"})


def name_of(code: str) -> str:
    return FIAT.get(code) or CRYPTO.get(code) or code


def is_fiat(code: str) -> bool:
    return code in FIAT
