-- Current consent per subject, purpose and channel at as-of, with why it does or does not count.
with

judged as (
    select * from {{ ref('int_consents_judged') }}
),

final as (
    select * from judged
)

select * from final
