/**
 * Synthetic raw rows generated inside DuckDB (no Kafka), for the stage-2 micro-benchmarks:
 * ~145-byte sensor payloads, 10 % malformed of ten kinds (row i gets kind i % 100 when that is
 * below 10), the rest good.
 */

/** One SQL expression per malformed kind, over the columns of rawRowsSql's `g`. */
const BAD_KINDS = [
  `NULL`, // null payload (tombstone); raw_payload_bytes stays NULL
  `'{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","firmwa'`, // truncated
  `'[{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || ',"site":"plant-07"}]'`, // not an object
  `'{"sensor_id":"s-' || id || '","unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","firmware":"v2.3.1","seq":' || i || '}'`, // missing value
  `'{"sensor_id":"s-' || id || '","value":"' || v || '","unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","seq":' || i || '}'`, // string value
  `'{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || '.5,"site":"plant-07","seq":' || i || '}'`, // float ts_ms
  `'{"sensor_id":"s-' || id || '","value":' || (v + 20000) || ',"unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","seq":' || i || '}'`, // out of range
  `'{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","tags":[1,2,],"seq":' || i || '}'`, // trailing comma
  `'{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || ',"value":' || (v + 20000) || ',"seq":' || i || '}'`, // duplicate key (last wins -> out of range)
  `NULL`, // not UTF-8 (raw_payload_bytes set below)
];

/** Rows [lo, hi) with the raw table's columns: 6 partitions, offsets i // 6. */
export function rawRowsSql(lo: number, hi: number): string {
  return `WITH g AS (
      SELECT i, i % 100 AS k, lpad(CAST(hash(i) % 5000 AS VARCHAR), 6, '0') AS id,
             round((hash(i * 7) % 1000000) / 100.0 - 50, 3) AS v, 1712000000000 + i AS ts
      FROM range(${lo}, ${hi}) t(i))
    SELECT 'sensor_readings' AS topic, CAST(i % 6 AS INTEGER) AS "partition", i // 6 AS "offset",
           make_timestamptz((1712000000000 + i) * 1000) AS kafka_ts,
           CASE ${BAD_KINDS.map((e, n) => `WHEN k = ${n} THEN ${e}`).join(' ')}
                ELSE '{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts ||
                     ',"site":"plant-07","line":"hall-3/b","firmware":"v2.3.1","seq":' || i || '}' END AS raw_payload,
           CASE WHEN k = ${BAD_KINDS.length - 1} THEN from_hex('7b2273656e736f725f6964223a22ff227d') END AS raw_payload_bytes,
           now() AS arrived_at
    FROM g`;
}

/** How many of rows [0, rows) are good. */
export function goodRowsIn(rows: number): number {
  return Array.from({ length: rows }, (_, i) => i % 100 >= BAD_KINDS.length).filter(Boolean).length;
}
