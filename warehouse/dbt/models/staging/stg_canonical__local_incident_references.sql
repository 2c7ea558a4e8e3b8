{#- The provider's own reference of each of its own live records, as an MD5 hash (the reference itself is withheld
    from analysts: it may be a free-text code that names a person or place), for matching a local record to its
    national LFPSE record. One row per local incident that carries a reference. -#}
select
    incident_key,
    provider_ods,
    md5(trim(local_reference)) as local_reference_hash
from {{ source('canonical', 'incident') }}
where record_origin = 'local'
  and not is_deleted
  and nullif(trim(local_reference), '') is not null
