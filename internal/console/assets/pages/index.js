// Every page module, imported once so that it registers its pages. A new page is a new file
// in this folder and one line here.
import './solutions.js';
import './endpoints.js';
import './handlers.js';
import './logs.js';
import './events.js';
import './deadletters.js';
import './dashboard.js';
import './hosted.js';
import './services.js';
import './keystore.js';
import './connectors.js';
import './applications.js';
