"""The missing values table the Upload and Dataset pages share: per item and per row, labelled."""

from __future__ import annotations

import streamlit as st

from routing_core.platform.formatting import HELP, missing_table


def table(per_item: dict, per_row: dict, item_attributes: list[str], key: str) -> None:
    """Every column's missing share per item (item attributes) and per row, in percent."""
    st.dataframe(
        missing_table(per_item, per_row, item_attributes),
        key=key,
        hide_index=True,
        column_config={
            "missing per item (%)": st.column_config.NumberColumn(format="%.1f %%", help=HELP["missing_items"]),
            "missing per row (%)": st.column_config.NumberColumn(format="%.1f %%", help=HELP["missing_rows"]),
        },
    )
