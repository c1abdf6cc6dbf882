{#- A call the centre placed to the customer: an agent's outbound call (OUTBOUND) or one a dialer or campaign started
    through the API (StartOutboundVoiceContact: API). Not a callback the customer asked for (CALLBACK), nor an
    agent's call to a third party during a contact (EXTERNAL_OUTBOUND). -#}
{% macro consent_outbound_call(method_expr) -%}
    {{ method_expr }} in ('OUTBOUND', 'API')
{%- endmacro %}
