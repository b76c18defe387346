-- Shared by the checkpoint tests: 4M Nexmark events (about 1.8M bids), a few seconds of work.
SET 'execution.checkpointing.interval' = '400 ms';
SET 'execution.checkpointing.num-retained' = '2';
SET 'state.checkpoints.dir' = '${DIR}/checkpoints';
SET 'state.savepoints.dir' = '${DIR}/savepoints';

CREATE TABLE datagen (
    event_type INT,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    `dateTime` AS CASE
        WHEN event_type = 0 THEN person.`dateTime`
        WHEN event_type = 1 THEN auction.`dateTime`
        ELSE bid.`dateTime`
    END,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'events.num' = '4000000');

CREATE VIEW bid AS
SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price, `dateTime`
FROM datagen WHERE event_type = 2;

CREATE VIEW auction AS
SELECT auction.id AS id, auction.seller AS seller, auction.category AS category, `dateTime`
FROM datagen WHERE event_type = 1;
