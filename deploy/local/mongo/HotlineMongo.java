import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import java.util.stream.StreamSupport;

import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.DatabaseResolver;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.backend.Missing;
import de.bwaldvogel.mongo.backend.QueryParameters;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.ValueComparator;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.LegacyUUID;
import de.bwaldvogel.mongo.bson.ObjectId;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.oplog.Oplog;
import io.netty.channel.Channel;

/**
 * The development MongoDB-wire database: mongo-java-server on an H2 MVStore file.
 *
 * <p>Three things differ from the stock H2 server. It reports wire version 9 ("4.4.0"), the
 * oldest PyMongo 4.20 accepts. A write command is acknowledged only after the store has
 * been committed to the file, so an acknowledged write survives a kill -9 of this process
 * (the stock backend commits about once a second). Concurrent writers share one commit.
 * And queries are answered from indexes where MongoDB would: the stock server ignores
 * non-unique indexes ({@link SecondaryIndex} is one) and uses the {@code _id} index only for
 * a query on {@code _id} alone ({@link IdAwareCollection}), so a conditional write such as
 * {@code {_id: x, version: 3}} and every periodic query (outbox relays, due timers, alerts,
 * gauges) scanned the whole collection, and the services slowed as the data grew.
 *
 * <p>Usage: java HotlineMongo HOST PORT FILE
 */
public final class HotlineMongo {

    private static final Set<String> WRITES = Set.of(
            "insert", "update", "delete", "findandmodify", "createindexes", "create", "drop",
            "dropdatabase", "dropindexes", "renamecollection");

    /** MongoDB 4.4: wire version 9. */
    enum Version implements MongoVersion {
        MONGO_4_4;

        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    }

    /** H2 backend whose write commands return only once the store is committed. */
    static final class DurableBackend extends H2Backend {
        private final AtomicLong finished = new AtomicLong();
        private final Object commitLock = new Object();
        private long committed;

        DurableBackend(MVStore store) {
            super(store);
        }

        @Override
        protected MongoDatabase openOrCreateDatabase(String name) {
            return new IndexedDatabase(name, getMvStore(), getCursorRegistry());
        }

        @Override
        public Document handleCommand(Channel channel, String database, String command, Document query) {
            if (!WRITES.contains(command.toLowerCase())) {
                return super.handleCommand(channel, database, command, query);
            }
            try {
                return super.handleCommand(channel, database, command, query);
            } finally { // a failed write (duplicate key in a batch) may still have changed something
                commitThrough(finished.incrementAndGet());
            }
        }

        /** Group commit: one commit covers every write that finished before it began. */
        private void commitThrough(long write) {
            synchronized (commitLock) {
                if (committed >= write) {
                    return;
                }
                long upTo = finished.get();
                getMvStore().commit();
                committed = upTo;
            }
        }
    }

    /** The one store of this process (a database opens its collections while it is built,
     * before a field of its own could hold it). */
    private static MVStore theStore;

    /** An H2 database whose non-unique indexes are {@link SecondaryIndex}es, used by finds,
     * updates, deletes, counts and aggregations that begin with a {@code $match}. */
    static final class IndexedDatabase extends H2Database {
        IndexedDatabase(String name, MVStore store, CursorRegistry cursors) {
            super(name, store, cursors);
        }

        @Override
        protected MongoCollection<Object> openOrCreateCollection(String name, CollectionOptions options) {
            String fullName = getFullCollectionNamespace(name);
            return new IdAwareCollection(this, name, options, theStore.openMap("databases." + fullName),
                    theStore.openMap("meta." + fullName), cursorRegistry);
        }

        @Override
        protected Index<Object> openOrCreateSecondaryIndex(
                String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
            return new SecondaryIndex(indexName, keys, sparse);
        }

        /** The stock aggregate streams the whole collection into its first stage; a leading
         * {@code $match} an index can answer is run as a query instead (count_documents is an
         * aggregate). Anything else goes the stock way. */
        @Override
        public Document handleCommand(Channel channel, String command, Document query,
                                      DatabaseResolver resolver, Oplog oplog) {
            if (!command.equalsIgnoreCase("aggregate") || !(query.get("aggregate") instanceof String name)) {
                return super.handleCommand(channel, command, query, resolver, oplog);
            }
            List<Document> pipeline = Aggregation.parse(query.get("pipeline"));
            MongoCollection<Object> collection = resolveCollection(name, false);
            Document match = pipeline.isEmpty() || pipeline.get(0).size() != 1
                    || !(pipeline.get(0).get("$match") instanceof Document m) ? null : m;
            if (collection == null || match == null
                    || collection.getIndexes().stream().noneMatch(index -> index.canHandle(match))) {
                return super.handleCommand(channel, command, query, resolver, oplog);
            }
            Aggregation rest = Aggregation.fromPipeline(
                    pipeline.subList(1, pipeline.size()), resolver, this, collection, oplog);
            if (rest.isModifying()) {
                return super.handleCommand(channel, command, query, resolver, oplog);
            }
            // wrapped in $query: a bare filter with a field named "query" would be taken for
            // the legacy wrapper
            Iterable<Document> matched = collection.handleQuery(
                    new QueryParameters(new Document("$query", match), 0, 0));
            List<Document> result = rest.runStages(StreamSupport.stream(matched.spliterator(), false));
            Document cursor = new Document("id", 0L);
            cursor.put("ns", getFullCollectionNamespace(name));
            cursor.put("firstBatch", result);
            Document response = new Document("cursor", cursor);
            Utils.markOkay(response);
            return response;
        }
    }

    /** An H2 collection that reads the documents a query names by {@code _id} (an equality
     * or {@code $in}) from the {@code _id} index even when the query has other conditions,
     * rather than scanning every document. (The map names are H2Database's.) */
    static final class IdAwareCollection extends H2Collection {
        IdAwareCollection(MongoDatabase database, String name, CollectionOptions options,
                          MVMap<Object, Document> data, MVMap<String, Object> meta, CursorRegistry cursors) {
            super(database, name, options, data, meta, cursors);
        }

        /** Under the collection's lock, as every write is: an index built from the data while
         * a write went by would miss it. */
        @Override
        public synchronized void addIndex(Index<Object> index) {
            super.addIndex(index);
        }

        @Override
        public synchronized void dropIndex(String indexName) {
            super.dropIndex(indexName);
        }

        @Override
        protected QueryResult matchDocuments(Document query, Document orderBy, int skip, int limit,
                                             int batchSize, Document fields) {
            String idField = getIdField();
            List<Object> ids = idField == null ? null : SecondaryIndex.points(query.get(idField));
            if (ids != null) {
                Document byId = new Document(idField, new Document("$in", ids));
                for (Index<Object> index : getIndexes()) {
                    if (index.isUnique() && index.getKeys().size() == 1
                            && index.getKeys().get(0).getKey().equals(idField) && index.canHandle(byId)) {
                        return matchDocuments(query, index.getPositions(byId), orderBy, skip, limit,
                                batchSize, fields);
                    }
                }
            }
            return super.matchDocuments(query, orderBy, skip, limit, batchSize, fields);
        }
    }

    /**
     * A non-unique index, in memory: rebuilt from the data when the server starts, kept up to
     * date on every insert, update and delete. Its entries are key tuples (one value per
     * indexed field; an array contributes each element) in BSON order.
     *
     * <p>It narrows a query to candidates and the server then matches each candidate against
     * the whole query, so it may return too many, never too few. It answers a query with an
     * equality or {@code $in} on a prefix of its fields, optionally followed by a range
     * ({@code $gt}, {@code $gte}, {@code $lt}, {@code $lte}) on the next field, or with
     * {@code $exists: true} on its first field. Any other condition on the first field (null,
     * {@code $ne}, {@code $exists: false}, a regex, …) leaves the query to a scan.
     */
    static final class SecondaryIndex extends Index<Object> {
        /** A field the document does not have: before null, as in MongoDB's index order. */
        private static final Object ABSENT = Missing.getInstance();
        private static final Comparator<Object> VALUES = SecondaryIndex::compareValues;
        private static final Comparator<List<Object>> TUPLES = SecondaryIndex::compareTuples;
        private static final Set<String> RANGE = Set.of("$gt", "$gte", "$lt", "$lte");
        private static final int MAX_COMBINATIONS = 10_000;

        private final NavigableMap<List<Object>, Set<Object>> entries = new TreeMap<>(TUPLES);
        private final Map<Object, List<List<Object>>> tuplesOf = new HashMap<>();
        /** Each document's position by its _id as the _id index compares it (1, 1L and 1.0
         * are one _id): a replacement may change the _id's number type. */
        private final Map<KeyValue, Object> positionOf = new HashMap<>();

        SecondaryIndex(String name, List<IndexKey> keys, boolean sparse) {
            super(name, keys, sparse);
        }

        private record Bound(Object value, boolean inclusive) {}

        /** Equality values for a prefix of the fields, then an optional range on the next. */
        private record Plan(List<List<Object>> points, Bound low, Bound high, boolean exists) {}

        private static int compareValues(Object a, Object b) {
            int ra = a == ABSENT ? 0 : a == null ? 1 : 2;
            int rb = b == ABSENT ? 0 : b == null ? 1 : 2;
            if (ra != 2 || rb != 2) {
                return Integer.compare(ra, rb);
            }
            return ValueComparator.asc().compare(a, b);
        }

        /** Element by element; a tuple sorts before every longer tuple it is a prefix of. */
        private static int compareTuples(List<Object> a, List<Object> b) {
            int n = Math.min(a.size(), b.size());
            for (int i = 0; i < n; i++) {
                int c = compareValues(a.get(i), b.get(i));
                if (c != 0) {
                    return c;
                }
            }
            return Integer.compare(a.size(), b.size());
        }

        /** The values the index orders (what ValueComparator can compare); any other value
         * (a subdocument, a regex, JavaScript…) is indexed as null and left to a scan. */
        private static boolean isScalar(Object value) {
            return value instanceof Number || value instanceof String || value instanceof Boolean
                    || value instanceof java.time.Instant
                    || value instanceof ObjectId || value instanceof java.util.UUID
                    || value instanceof LegacyUUID || value instanceof BsonTimestamp;
        }

        /** The values one field contributes: each array element, ABSENT, null or the value. */
        private static List<Object> fieldValues(Document document, String key) {
            Object value = Utils.getSubdocumentValueCollectionAware(document, key);
            if (value instanceof Missing) {
                return Collections.singletonList(ABSENT);
            }
            if (value instanceof Collection<?> elements && !elements.isEmpty()) {
                List<Object> values = new ArrayList<>();
                for (Object element : elements) {
                    values.add(isScalar(element) ? element : null);
                }
                return values;
            }
            return Collections.singletonList(isScalar(value) ? value : null);
        }

        private static List<List<Object>> product(List<List<Object>> choices) {
            List<List<Object>> tuples = new ArrayList<>();
            tuples.add(new ArrayList<>());
            for (List<Object> choice : choices) {
                List<List<Object>> next = new ArrayList<>();
                for (List<Object> tuple : tuples) {
                    for (Object value : choice) {
                        List<Object> longer = new ArrayList<>(tuple);
                        longer.add(value);
                        next.add(longer);
                    }
                }
                tuples = next;
            }
            return tuples;
        }

        private List<List<Object>> tuples(Document document) {
            List<List<Object>> choices = new ArrayList<>();
            for (IndexKey key : getKeys()) {
                choices.add(fieldValues(document, key.getKey()));
            }
            return product(choices);
        }

        /** The values an equality or {@code $in} condition names; null for any other. */
        static List<Object> points(Object condition) {
            if (isScalar(condition)) {
                return List.of(condition);
            }
            if (!(condition instanceof Document operators) || operators.size() != 1) {
                return null;
            }
            Object eq = operators.get("$eq");
            if (isScalar(eq)) {
                return List.of(eq);
            }
            if (operators.get("$in") instanceof Collection<?> in && !in.isEmpty()
                    && in.stream().allMatch(SecondaryIndex::isScalar)) {
                return new ArrayList<>(in);
            }
            return null;
        }

        private static final Pattern POSITION = Pattern.compile("(^|\\.)\\d+(\\.|$)");

        private Plan plan(Document query) {
            List<List<Object>> points = new ArrayList<>();
            for (IndexKey key : getKeys()) {
                if (POSITION.matcher(key.getKey()).find()) {
                    break; // "items.0.sku" names an array position: the matcher's business
                }
                Object condition = query.get(key.getKey());
                if (condition == null) {
                    break; // not queried (a null condition matches the absent: left to a scan)
                }
                List<Object> values = points(condition);
                if (values != null) {
                    points.add(values);
                    continue;
                }
                if (condition instanceof Document operators && !operators.isEmpty()) {
                    if (RANGE.containsAll(operators.keySet())
                            && operators.values().stream().allMatch(SecondaryIndex::isScalar)
                            && !(operators.containsKey("$gt") && operators.containsKey("$gte"))
                            && !(operators.containsKey("$lt") && operators.containsKey("$lte"))) {
                        Bound low = operators.containsKey("$gte") ? new Bound(operators.get("$gte"), true)
                                : operators.containsKey("$gt") ? new Bound(operators.get("$gt"), false) : null;
                        Bound high = operators.containsKey("$lte") ? new Bound(operators.get("$lte"), true)
                                : operators.containsKey("$lt") ? new Bound(operators.get("$lt"), false) : null;
                        return new Plan(points, low, high, false);
                    }
                    if (points.isEmpty() && operators.size() == 1 && Utils.isTrue(operators.get("$exists"))) {
                        return new Plan(points, null, null, true);
                    }
                }
                break;
            }
            return points.isEmpty() ? null : new Plan(points, null, null, false);
        }

        @Override
        public synchronized boolean canHandle(Document query) {
            if (points(query.get("_id")) != null) {
                return false; // the documents are named: IdAwareCollection reads them by _id
            }
            Plan plan = plan(query);
            if (plan == null) {
                return false;
            }
            long combinations = 1;
            for (List<Object> values : plan.points()) {
                combinations *= values.size();
            }
            return combinations <= MAX_COMBINATIONS;
        }

        @Override
        public synchronized Iterable<Object> getPositions(Document query) {
            Plan plan = plan(query);
            Set<Object> positions = new LinkedHashSet<>();
            if (plan.exists()) { // every tuple whose first field is there (null included)
                for (Set<Object> at : entries.tailMap(Collections.singletonList(null), true).values()) {
                    positions.addAll(at);
                }
                return positions;
            }
            for (List<Object> prefix : product(plan.points())) {
                int n = prefix.size();
                boolean ranged = plan.low() != null || plan.high() != null;
                List<Object> from = prefix;
                if (plan.low() != null) {
                    from = new ArrayList<>(prefix);
                    from.add(plan.low().value());
                }
                for (Map.Entry<List<Object>, Set<Object>> entry : entries.tailMap(from, true).entrySet()) {
                    List<Object> tuple = entry.getKey();
                    if (compareTuples(tuple.subList(0, n), prefix) != 0) {
                        break;
                    }
                    if (ranged) {
                        Object value = tuple.get(n);
                        if (value == ABSENT || value == null) {
                            continue;
                        }
                        if (plan.high() != null) {
                            int c = compareValues(value, plan.high().value());
                            if (c > 0 || (c == 0 && !plan.high().inclusive())) {
                                break;
                            }
                        }
                        if (plan.low() != null) {
                            int c = compareValues(value, plan.low().value());
                            if (c < 0 || (c == 0 && !plan.low().inclusive())) {
                                continue;
                            }
                        }
                    }
                    positions.addAll(entry.getValue());
                }
            }
            return positions;
        }

        @Override
        public Object getPosition(Document document) {
            return null; // not unique: the _id index locates documents
        }

        @Override
        public void checkAdd(Document document, MongoCollection<Object> collection) {
        }

        @Override
        public void checkUpdate(Document oldDocument, Document newDocument, MongoCollection<Object> collection) {
        }

        @Override
        public synchronized void add(Document document, Object position, MongoCollection<Object> collection) {
            List<List<Object>> tuples = tuples(document);
            for (List<Object> tuple : tuples) {
                entries.computeIfAbsent(tuple, t -> new LinkedHashSet<>()).add(position);
            }
            tuplesOf.put(position, tuples);
            positionOf.put(idKey(document), position);
        }

        private static KeyValue idKey(Document document) {
            return new KeyValue(document.get("_id")).normalized();
        }

        @Override
        public synchronized Object remove(Document document) {
            Object position = positionOf.remove(idKey(document));
            return position != null && forget(position) ? position : null;
        }

        @Override
        public synchronized void updateInPlace(Document oldDocument, Document newDocument, Object position,
                                               MongoCollection<Object> collection) {
            positionOf.remove(idKey(oldDocument));
            forget(position);
            add(newDocument, position, collection);
        }

        /** Drops the entries of the document at `position`; false if it had none. */
        private boolean forget(Object position) {
            List<List<Object>> tuples = tuplesOf.remove(position);
            if (tuples == null) {
                return false;
            }
            for (List<Object> tuple : tuples) {
                Set<Object> at = entries.get(tuple);
                if (at != null && at.remove(position) && at.isEmpty()) {
                    entries.remove(tuple);
                }
            }
            return true;
        }

        @Override
        public synchronized long getCount() {
            return tuplesOf.size();
        }

        @Override
        public synchronized long getDataSize() {
            return entries.size();
        }

        @Override
        public synchronized void drop() {
            entries.clear();
            tuplesOf.clear();
            positionOf.clear();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: HotlineMongo HOST PORT FILE");
            System.exit(2);
        }
        Path file = Path.of(args[2]);
        Files.createDirectories(file.toAbsolutePath().getParent());
        // A 512 MB page cache (16 MB by default): a cached page holds its documents already
        // deserialized, and deserializing a document is most of what a read costs here.
        MVStore store = theStore = new MVStore.Builder().fileName(file.toString()).cacheSize(512).open();
        DurableBackend backend = new DurableBackend(store);
        backend.version(Version.MONGO_4_4);
        MongoServer server = new MongoServer(backend);
        server.bind(args[0], Integer.parseInt(args[1]));
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "shutdown"));
        System.err.println("hotline-mongo: listening on " + args[0] + ":" + args[1] + ", file " + file);
    }
}
