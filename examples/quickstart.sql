-- Runnel's quickstart: bids per 10-second window from the built-in Nexmark generator.
-- Run it with: runnel run examples/quickstart.sql
SET 'parallelism.default' = '2';

CREATE TABLE datagen (
    event_type INT,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
    `dateTime` AS CASE
        WHEN event_type = 0 THEN person.`dateTime`
        WHEN event_type = 1 THEN auction.`dateTime`
        ELSE bid.`dateTime`
    END,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'nexmark',
    'first-event.rate' = '10000',
    'events.num' = '1000000'
);

CREATE VIEW bid AS
SELECT bid.auction, bid.bidder, bid.price, `dateTime`
FROM datagen WHERE event_type = 2;

CREATE TABLE bids_per_window (
    window_start TIMESTAMP(3),
    window_end TIMESTAMP(3),
    bids BIGINT,
    auctions BIGINT,
    max_price BIGINT
) WITH ('connector' = 'print');

INSERT INTO bids_per_window
SELECT window_start, window_end, COUNT(*), COUNT(DISTINCT auction), MAX(price)
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
