BEGIN TRANSACTION;
CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        actor TEXT NOT NULL,             -- staff name, cli:<user>, api
        action TEXT NOT NULL,            -- keyword.add, keyword.remove, keyword.move, reply.set, undo, consent.opt_out, ...
        target TEXT NOT NULL,            -- e.g. es:baja, es:opt_out reply, 593991234567
        before TEXT,                     -- JSON
        after TEXT,                      -- JSON
        at TEXT NOT NULL,
        undoes INTEGER,                  -- for an undo: the entry it reverted
        undone_by INTEGER                -- the undo entry that reverted this one
    );
INSERT INTO "audit_log" VALUES(1,'api:ana','consent.opt_out','79167654321','{"suppressed": false}','{"suppressed": true, "reason": "asked by phone"}','2026-11-25T18:01:23.431951Z',NULL,NULL);
INSERT INTO "audit_log" VALUES(2,'api:ana','consent.opt_out','525512340000','{"suppressed": false}','{"suppressed": true, "reason": "asked by phone"}','2026-11-25T18:01:23.447834Z',NULL,NULL);
INSERT INTO "audit_log" VALUES(3,'api:ana','consent.opt_in','525512340000','{"suppressed": true}','{"suppressed": false, "reason": "asked again"}','2026-11-25T18:01:23.458770Z',NULL,NULL);
CREATE TABLE config_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,        -- bumped in the same transaction as every edit
        updated_at TEXT
    );
INSERT INTO "config_version" VALUES(1,0,NULL);
CREATE TABLE consent_events (
        id INTEGER PRIMARY KEY,
        wa_id TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('opt_out', 'opt_in')),
        source TEXT NOT NULL,
        keyword TEXT,                    -- the user's words (or button label) that triggered it
        rule TEXT,                       -- which detection rule matched, e.g. whole_message:es:baja
        language TEXT,
        business_phone_number_id TEXT,
        business_display_number TEXT,
        message_id TEXT,
        actor TEXT,                      -- staff name or import file, for manual changes
        reason TEXT,
        applied INTEGER NOT NULL,        -- 0 when an older event arrived after a newer one
        occurred_at TEXT NOT NULL,       -- when the user acted (from Meta's timestamp)
        recorded_at TEXT NOT NULL
    );
INSERT INTO "consent_events" VALUES(1,'5215512345678','opt_out','keyword','STOP','whole_message:en:stop','es','106540352242922','15550001111','wamid.OLD.MX',NULL,NULL,1,'2025-11-24T16:00:00.000000Z','2026-11-25T18:01:23.209122Z');
INSERT INTO "consent_events" VALUES(2,'5491112345678','opt_out','keyword','BAJA','whole_message:es:baja','es','106540352242922','15550001111','wamid.OLD.AR',NULL,NULL,1,'2025-11-24T16:00:01.000000Z','2026-11-25T18:01:23.228110Z');
INSERT INTO "consent_events" VALUES(3,'551187654321','opt_out','keyword','sair','whole_message:pt:sair','pt','106540352242922','15550001111','wamid.OLD.BR',NULL,NULL,1,'2025-11-24T16:00:02.000000Z','2026-11-25T18:01:23.247228Z');
INSERT INTO "consent_events" VALUES(4,'22507123456','opt_out','keyword','stop','whole_message:en:stop','fr','106540352242922','15550001111','wamid.OLD.CI',NULL,NULL,1,'2025-11-24T16:00:03.000000Z','2026-11-25T18:01:23.259515Z');
INSERT INTO "consent_events" VALUES(5,'79161234567','opt_out','keyword','стоп','whole_message:ru:стоп','ru','106540352242922','15550001111','wamid.OLD.RU',NULL,NULL,1,'2025-11-24T16:00:04.000000Z','2026-11-25T18:01:23.275612Z');
INSERT INTO "consent_events" VALUES(6,'5215512349999','opt_out','meta_status_131050',NULL,NULL,NULL,'106540352242922','15550001111','wamid.OUT.OLD1',NULL,'Meta: the user stopped marketing messages (131050)',1,'2026-11-25T18:01:23.000000Z','2026-11-25T18:01:23.288123Z');
INSERT INTO "consent_events" VALUES(7,'380501234567','opt_out','meta_preference',NULL,NULL,NULL,'106540352242922','15550001111',NULL,NULL,'Meta user_preferences: marketing_messages=stop',1,'2025-11-24T16:00:00.000000Z','2026-11-25T18:01:23.301885Z');
INSERT INTO "consent_events" VALUES(8,'US.13491208655302741918','opt_out','keyword','STOP','whole_message:en:stop','en','106540352242922','15550001111','wamid.OLD.USER',NULL,NULL,1,'2025-11-24T16:00:05.000000Z','2026-11-25T18:01:23.315866Z');
INSERT INTO "consent_events" VALUES(9,'14155550123','opt_out','keyword','STOP','whole_message:en:stop','en','106540352242922','15550001111','wamid.TEST0000000183349',NULL,NULL,1,'2025-11-24T16:00:00.000000Z','2026-11-25T18:01:23.364388Z');
INSERT INTO "consent_events" VALUES(10,'14155550123','opt_in','keyword','START','whole_message:en:start','en','106540352242922','15550001111','wamid.TEST0000000283385',NULL,NULL,1,'2025-11-24T16:00:10.000000Z','2026-11-25T18:01:23.386595Z');
INSERT INTO "consent_events" VALUES(11,'14155550124','opt_out','keyword','STOP','whole_message:en:stop','en','106540352242922','15550001111','wamid.TEST0000000383400',NULL,NULL,1,'2025-11-24T16:00:20.000000Z','2026-11-25T18:01:23.402046Z');
INSERT INTO "consent_events" VALUES(12,'14155550124','opt_in','meta_preference',NULL,NULL,NULL,'106540352242922','15550001111',NULL,NULL,'Meta user_preferences: marketing_messages=resume',0,'2025-11-24T16:00:05.000000Z','2026-11-25T18:01:23.415368Z');
INSERT INTO "consent_events" VALUES(13,'79167654321','opt_out','staff',NULL,NULL,NULL,NULL,NULL,NULL,'api:ana','asked by phone',1,'2026-11-25T18:01:23.431735Z','2026-11-25T18:01:23.431818Z');
INSERT INTO "consent_events" VALUES(14,'525512340000','opt_out','staff',NULL,NULL,NULL,NULL,NULL,NULL,'api:ana','asked by phone',1,'2026-11-25T18:01:23.447639Z','2026-11-25T18:01:23.447744Z');
INSERT INTO "consent_events" VALUES(15,'525512340000','opt_in','staff',NULL,NULL,NULL,NULL,NULL,NULL,'api:ana','asked again',1,'2026-11-25T18:01:23.458489Z','2026-11-25T18:01:23.458596Z');
INSERT INTO "consent_events" VALUES(16,'5215512340000','opt_out','keyword','STOP','whole_message:en:stop','es','106540352242922','15550001111','wamid.OLD.MX2',NULL,NULL,1,'2025-11-24T16:00:30.000000Z','2026-11-25T18:01:23.478835Z');
INSERT INTO "consent_events" VALUES(17,'593991234567','opt_out','import',NULL,NULL,NULL,NULL,NULL,NULL,'old-provider.csv','imported from old-provider.csv',1,'2024-05-01T00:00:00.000000Z','2026-11-25T18:01:23.517235Z');
INSERT INTO "consent_events" VALUES(18,'5511987650000','opt_out','import',NULL,NULL,NULL,NULL,NULL,NULL,'old-provider.csv','imported from old-provider.csv',1,'2024-05-02T00:00:00.000000Z','2026-11-25T18:01:23.518115Z');
CREATE TABLE contacts (
        wa_id TEXT PRIMARY KEY,
        language TEXT,                   -- last language we replied in
        updated_at TEXT NOT NULL
    );
INSERT INTO "contacts" VALUES('5215512345678','es','2026-11-25T18:01:23.209513Z');
INSERT INTO "contacts" VALUES('5491112345678','es','2026-11-25T18:01:23.228303Z');
INSERT INTO "contacts" VALUES('551187654321','pt','2026-11-25T18:01:23.247412Z');
INSERT INTO "contacts" VALUES('22507123456','fr','2026-11-25T18:01:23.259738Z');
INSERT INTO "contacts" VALUES('79161234567','ru','2026-11-25T18:01:23.275830Z');
INSERT INTO "contacts" VALUES('US.13491208655302741918','en','2026-11-25T18:01:23.316100Z');
INSERT INTO "contacts" VALUES('14155550123','en','2026-11-25T18:01:23.386827Z');
INSERT INTO "contacts" VALUES('14155550124','en','2026-11-25T18:01:23.402200Z');
INSERT INTO "contacts" VALUES('5215512340000','es','2026-11-25T18:01:23.479016Z');
CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        error TEXT NOT NULL,
        raw TEXT NOT NULL
    );
INSERT INTO "dead_letters" VALUES(1,'2026-11-25T18:01:23.338656Z','message','message has no sender (from / from_user_id)','{"id": "wamid.OLD.IDCHANGE", "timestamp": "1764000006", "type": "system", "system": {"type": "user_changed_user_id", "user_id": "US.99887766554433221100", "previous_user_id": "US.13491208655302741918", "body": "User changed from US.13491208655302741918 to US.99887766554433221100"}}');
CREATE TABLE inbound_messages (
        message_id TEXT PRIMARY KEY,
        wa_id TEXT NOT NULL,
        words TEXT NOT NULL,             -- JSON list of the user's strings (text, button label, caption)
        received_at TEXT NOT NULL,
        intent TEXT,
        rule TEXT
    );
INSERT INTO "inbound_messages" VALUES('wamid.OLD.MX','5215512345678','["STOP"]','2026-11-25T18:01:23.206205Z','opt_out','whole_message:en:stop');
INSERT INTO "inbound_messages" VALUES('wamid.OLD.AR','5491112345678','["BAJA"]','2026-11-25T18:01:23.227954Z','opt_out','whole_message:es:baja');
INSERT INTO "inbound_messages" VALUES('wamid.OLD.BR','551187654321','["sair"]','2026-11-25T18:01:23.247089Z','opt_out','whole_message:pt:sair');
INSERT INTO "inbound_messages" VALUES('wamid.OLD.CI','22507123456','["stop"]','2026-11-25T18:01:23.258815Z','opt_out','whole_message:en:stop');
INSERT INTO "inbound_messages" VALUES('wamid.OLD.RU','79161234567','["стоп"]','2026-11-25T18:01:23.274723Z','opt_out','whole_message:ru:стоп');
INSERT INTO "inbound_messages" VALUES('wamid.OLD.USER','US.13491208655302741918','["STOP"]','2026-11-25T18:01:23.315699Z','opt_out','whole_message:en:stop');
INSERT INTO "inbound_messages" VALUES('wamid.TEST0000000183349','14155550123','["STOP"]','2026-11-25T18:01:23.351425Z','opt_out','whole_message:en:stop');
INSERT INTO "inbound_messages" VALUES('wamid.TEST0000000283385','14155550123','["START"]','2026-11-25T18:01:23.386257Z','opt_in','whole_message:en:start');
INSERT INTO "inbound_messages" VALUES('wamid.TEST0000000383400','14155550124','["STOP"]','2026-11-25T18:01:23.401774Z','opt_out','whole_message:en:stop');
INSERT INTO "inbound_messages" VALUES('wamid.OLD.MX2','5215512340000','["STOP"]','2026-11-25T18:01:23.478574Z','opt_out','whole_message:en:stop');
CREATE TABLE keyword_edits (
        language TEXT NOT NULL,
        intent TEXT NOT NULL,            -- opt_out, opt_in, help
        match TEXT NOT NULL,             -- whole_message, anywhere
        keyword TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('added', 'removed')),
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (language, intent, match, keyword)
    );
CREATE TABLE login_attempts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        ip TEXT NOT NULL,
        ok INTEGER NOT NULL,
        at TEXT NOT NULL
    );
CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        event_key TEXT NOT NULL UNIQUE,  -- reply:<wamid>: one confirmation per event, ever
        wa_id TEXT NOT NULL,
        phone_number_id TEXT NOT NULL,
        intent TEXT NOT NULL,
        language TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        lease_until TEXT,
        deadline TEXT NOT NULL,          -- the end of the 24-hour customer-service window
        last_error TEXT,
        provider_message_id TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
INSERT INTO "outbox" VALUES(1,'reply:wamid.OLD.MX','5215512345678','106540352242922','opt_out','es','Listo: no recibirás más mensajes de marketing. Responde ALTA para volver a suscribirte.','skipped',0,'2026-11-25T18:01:23.209426Z',NULL,'2025-11-25T16:00:00.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.209426Z',NULL);
INSERT INTO "outbox" VALUES(2,'reply:wamid.OLD.AR','5491112345678','106540352242922','opt_out','es','Listo: no recibirás más mensajes de marketing. Responde ALTA para volver a suscribirte.','skipped',0,'2026-11-25T18:01:23.228254Z',NULL,'2025-11-25T16:00:01.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.228254Z',NULL);
INSERT INTO "outbox" VALUES(3,'reply:wamid.OLD.BR','551187654321','106540352242922','opt_out','pt','Pronto: você não receberá mais mensagens de marketing. Responda VOLTAR para se inscrever novamente.','skipped',0,'2026-11-25T18:01:23.247351Z',NULL,'2025-11-25T16:00:02.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.247351Z',NULL);
INSERT INTO "outbox" VALUES(4,'reply:wamid.OLD.CI','22507123456','106540352242922','opt_out','fr','C''est fait : vous ne recevrez plus nos messages marketing. Répondez START pour vous réabonner.','skipped',0,'2026-11-25T18:01:23.259659Z',NULL,'2025-11-25T16:00:03.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.259659Z',NULL);
INSERT INTO "outbox" VALUES(5,'reply:wamid.OLD.RU','79161234567','106540352242922','opt_out','ru','Готово: вы больше не будете получать рекламные сообщения. Чтобы подписаться снова, ответьте СТАРТ.','skipped',0,'2026-11-25T18:01:23.275784Z',NULL,'2025-11-25T16:00:04.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.275784Z',NULL);
INSERT INTO "outbox" VALUES(6,'reply:wamid.OLD.USER','US.13491208655302741918','106540352242922','opt_out','en','You have been unsubscribed and will no longer receive marketing messages from us. Reply START to subscribe again.','skipped',0,'2026-11-25T18:01:23.316021Z',NULL,'2025-11-25T16:00:05.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.316021Z',NULL);
INSERT INTO "outbox" VALUES(7,'reply:wamid.TEST0000000183349','14155550123','106540352242922','opt_out','en','You have been unsubscribed and will no longer receive marketing messages from us. Reply START to subscribe again.','skipped',0,'2026-11-25T18:01:23.372743Z',NULL,'2025-11-25T16:00:00.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.372743Z',NULL);
INSERT INTO "outbox" VALUES(8,'reply:wamid.TEST0000000283385','14155550123','106540352242922','opt_in','en','You are subscribed again. Reply STOP at any time to stop receiving marketing messages.','skipped',0,'2026-11-25T18:01:23.386780Z',NULL,'2025-11-25T16:00:10.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.386780Z',NULL);
INSERT INTO "outbox" VALUES(9,'reply:wamid.TEST0000000383400','14155550124','106540352242922','opt_out','en','You have been unsubscribed and will no longer receive marketing messages from us. Reply START to subscribe again.','skipped',0,'2026-11-25T18:01:23.402156Z',NULL,'2025-11-25T16:00:20.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.402156Z',NULL);
INSERT INTO "outbox" VALUES(10,'reply:wamid.OLD.MX2','5215512340000','106540352242922','opt_out','es','Listo: no recibirás más mensajes de marketing. Responde ALTA para volver a suscribirte.','skipped',0,'2026-11-25T18:01:23.478955Z',NULL,'2025-11-25T16:00:30.000000Z','outside the 24-hour customer-service window',NULL,'2026-11-25T18:01:23.478955Z',NULL);
CREATE TABLE processed (
        key TEXT PRIMARY KEY,            -- message:<wamid>, status:<id>:<status>, preference:<hash>
        kind TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
INSERT INTO "processed" VALUES('message:wamid.OLD.MX','message','2026-11-25T18:01:23.206073Z');
INSERT INTO "processed" VALUES('message:wamid.OLD.AR','message','2026-11-25T18:01:23.227880Z');
INSERT INTO "processed" VALUES('message:wamid.OLD.BR','message','2026-11-25T18:01:23.246764Z');
INSERT INTO "processed" VALUES('message:wamid.OLD.CI','message','2026-11-25T18:01:23.258731Z');
INSERT INTO "processed" VALUES('message:wamid.OLD.RU','message','2026-11-25T18:01:23.274619Z');
INSERT INTO "processed" VALUES('status:wamid.OUT.OLD1:failed','status','2026-11-25T18:01:23.287923Z');
INSERT INTO "processed" VALUES('preference:4cfa4dd1f1a75c2d923a42296b0589b681f6c4e3e6b27c9bdd44548fd58666b2','user_preference','2026-11-25T18:01:23.301731Z');
INSERT INTO "processed" VALUES('message:wamid.OLD.USER','message','2026-11-25T18:01:23.315599Z');
INSERT INTO "processed" VALUES('message:wamid.TEST0000000183349','message','2026-11-25T18:01:23.351301Z');
INSERT INTO "processed" VALUES('message:wamid.TEST0000000283385','message','2026-11-25T18:01:23.386182Z');
INSERT INTO "processed" VALUES('message:wamid.TEST0000000383400','message','2026-11-25T18:01:23.401706Z');
INSERT INTO "processed" VALUES('preference:3faa091138c5b07c6d2fc0b5f36b64358ba3b6604bb0b207e0ee44a1e7487200','user_preference','2026-11-25T18:01:23.415192Z');
INSERT INTO "processed" VALUES('message:wamid.OLD.MX2','message','2026-11-25T18:01:23.478507Z');
CREATE TABLE reply_overrides (
        language TEXT NOT NULL,
        intent TEXT NOT NULL,
        reply TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (language, intent)
    );
CREATE TABLE review_queue (
        message_id TEXT PRIMARY KEY,
        wa_id TEXT NOT NULL,
        text TEXT NOT NULL,
        classification TEXT NOT NULL,    -- JSON: intent, rule, keyword, language, certain
        language TEXT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'decided')),
        received_at TEXT NOT NULL,
        decision TEXT CHECK (decision IN ('opt_out', 'not_opt_out')),
        decided_by TEXT,
        reason TEXT,
        decided_at TEXT
    );
CREATE TABLE send_pauses (
        phone_number_id TEXT PRIMARY KEY,
        until TEXT NOT NULL,
        reason TEXT NOT NULL
    );
CREATE TABLE staff (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,     -- werkzeug.security (scrypt), never shown
        created_at TEXT NOT NULL
    );
CREATE TABLE suppressions (
        wa_id TEXT PRIMARY KEY,          -- phone digits without '+', or a business-scoped user id
        suppressed INTEGER NOT NULL,     -- 1 = no marketing; 0 = opted back in
        since TEXT NOT NULL,             -- when the current state began (the event's own time)
        source TEXT NOT NULL,            -- keyword, button, meta_preference, meta_status_131050, staff, import, number_change
        rule TEXT,
        last_event_id INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
INSERT INTO "suppressions" VALUES('5215512345678',1,'2025-11-24T16:00:00.000000Z','keyword','whole_message:en:stop',1,'2026-11-25T18:01:23.209122Z');
INSERT INTO "suppressions" VALUES('5491112345678',1,'2025-11-24T16:00:01.000000Z','keyword','whole_message:es:baja',2,'2026-11-25T18:01:23.228110Z');
INSERT INTO "suppressions" VALUES('551187654321',1,'2025-11-24T16:00:02.000000Z','keyword','whole_message:pt:sair',3,'2026-11-25T18:01:23.247228Z');
INSERT INTO "suppressions" VALUES('22507123456',1,'2025-11-24T16:00:03.000000Z','keyword','whole_message:en:stop',4,'2026-11-25T18:01:23.259515Z');
INSERT INTO "suppressions" VALUES('79161234567',1,'2025-11-24T16:00:04.000000Z','keyword','whole_message:ru:стоп',5,'2026-11-25T18:01:23.275612Z');
INSERT INTO "suppressions" VALUES('5215512349999',1,'2026-11-25T18:01:23.000000Z','meta_status_131050',NULL,6,'2026-11-25T18:01:23.288123Z');
INSERT INTO "suppressions" VALUES('380501234567',1,'2025-11-24T16:00:00.000000Z','meta_preference',NULL,7,'2026-11-25T18:01:23.301885Z');
INSERT INTO "suppressions" VALUES('US.13491208655302741918',1,'2025-11-24T16:00:05.000000Z','keyword','whole_message:en:stop',8,'2026-11-25T18:01:23.315866Z');
INSERT INTO "suppressions" VALUES('14155550123',0,'2025-11-24T16:00:10.000000Z','keyword','whole_message:en:start',10,'2026-11-25T18:01:23.386595Z');
INSERT INTO "suppressions" VALUES('14155550124',1,'2025-11-24T16:00:20.000000Z','keyword','whole_message:en:stop',11,'2026-11-25T18:01:23.402046Z');
INSERT INTO "suppressions" VALUES('79167654321',1,'2026-11-25T18:01:23.431735Z','staff',NULL,13,'2026-11-25T18:01:23.431818Z');
INSERT INTO "suppressions" VALUES('525512340000',0,'2026-11-25T18:01:23.458489Z','staff',NULL,15,'2026-11-25T18:01:23.458596Z');
INSERT INTO "suppressions" VALUES('5215512340000',1,'2025-11-24T16:00:30.000000Z','keyword','whole_message:en:stop',16,'2026-11-25T18:01:23.478835Z');
INSERT INTO "suppressions" VALUES('593991234567',1,'2024-05-01T00:00:00.000000Z','import',NULL,17,'2026-11-25T18:01:23.517235Z');
INSERT INTO "suppressions" VALUES('5511987650000',1,'2024-05-02T00:00:00.000000Z','import',NULL,18,'2026-11-25T18:01:23.518115Z');
CREATE INDEX suppressions_suppressed ON suppressions(suppressed, since);
CREATE INDEX consent_events_wa_id ON consent_events(wa_id, id);
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
        BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
        BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX login_attempts_name ON login_attempts(name, at);
CREATE INDEX login_attempts_ip ON login_attempts(ip, at);
CREATE INDEX review_queue_state ON review_queue(state, received_at);
CREATE INDEX inbound_messages_received ON inbound_messages(received_at);
CREATE INDEX processed_received ON processed(received_at);
COMMIT;
PRAGMA user_version = 3;
